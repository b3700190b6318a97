//! Request-level errors: every one answers the shared JSON body with its status and code.

use serde_json::{json, Value};

use crate::helpers::*;

async fn error_of(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let request_id = response.headers()["x-request-id"]
        .to_str()
        .expect("ascii")
        .to_owned();
    let body: Value = response.json().await.expect("a JSON error body");
    assert_eq!(
        body["error"]["request_id"],
        request_id.as_str(),
        "the body names the request id"
    );
    assert!(body["error"]["message"]
        .as_str()
        .is_some_and(|m| !m.is_empty()));
    (status, body["error"].clone())
}

#[tokio::test]
async fn a_missing_or_wrong_key_gets_the_same_401() {
    let app = spawn_app().await;
    let url = app.url("/documents/cancel");
    let body = body_for(&["TR99AQMY31"]);

    let missing = app
        .client
        .post(&url)
        .json(&body)
        .send()
        .await
        .expect("answer");
    let wrong = app
        .client
        .post(&url)
        .bearer_auth("nope")
        .json(&body)
        .send()
        .await
        .expect("answer");

    let (status_missing, missing) = error_of(missing).await;
    let (status_wrong, wrong) = error_of(wrong).await;
    assert_eq!((status_missing, status_wrong), (401, 401));
    assert_eq!(missing["code"], "unauthorized");
    assert_eq!(missing["message"], wrong["message"]);
}

#[tokio::test]
async fn the_bare_key_is_accepted_like_auco_clients_send_it() {
    let app = spawn_app().await;
    let response = app
        .client
        .post(app.url("/documents/cancel"))
        .header("Authorization", API_KEY)
        .json(&body_for(&["lower-case"]))
        .send()
        .await
        .expect("answer");
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn bodies_that_are_not_json_get_415_or_400() {
    let app = spawn_app().await;
    let url = app.url("/documents/cancel");

    let text = app
        .client
        .post(&url)
        .bearer_auth(API_KEY)
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .expect("answer");
    let broken = app
        .client
        .post(&url)
        .bearer_auth(API_KEY)
        .header("content-type", "application/json")
        .body("{\"codes\":")
        .send()
        .await
        .expect("answer");

    let (status, error) = error_of(text).await;
    assert_eq!(
        (status, error["code"].as_str()),
        (415, Some("unsupported_media_type"))
    );
    let (status, error) = error_of(broken).await;
    assert_eq!(
        (status, error["code"].as_str()),
        (400, Some("invalid_json"))
    );
}

#[tokio::test]
async fn validation_errors_name_the_field() {
    let app = spawn_app().await;
    let cases = [
        (
            json!({"code": ["TR99AQMY31"], "message": "m", "email": EMAIL}),
            "invalid_request",
            "code:",
        ),
        (
            json!({"codes": ["TR99AQMY31", "TR99AQMY31"], "message": "m", "email": EMAIL}),
            "duplicate_code",
            "codes[1]:",
        ),
        (
            json!({"codes": ["TR99 AQMY31"], "message": "m", "email": EMAIL}),
            "invalid_request",
            "codes[0]:",
        ),
        (
            json!({"codes": ["A1"], "message": "m", "email": "not-an-email"}),
            "invalid_request",
            "email:",
        ),
    ];
    for (body, code, field) in cases {
        let (status, error) = error_of(app.cancel(&body).await).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(error["code"], code, "{body}");
        assert!(
            error["message"]
                .as_str()
                .is_some_and(|m| m.starts_with(field)),
            "{error}"
        );
    }
}

#[tokio::test]
async fn more_codes_than_max_documents_are_refused() {
    let app = spawn_app_with(&[("SIGNGATE__SERVER__MAX_DOCUMENTS", "2")]).await;
    let (status, error) = error_of(app.cancel(&body_for(&["A1", "A2", "A3"])).await).await;
    assert_eq!(
        (status, error["code"].as_str()),
        (400, Some("too_many_documents"))
    );
}

#[tokio::test]
async fn an_oversized_body_gets_413() {
    let app = spawn_app_with(&[("SIGNGATE__SERVER__MAX_BODY_BYTES", "2048")]).await;
    let body = json!({"codes": ["A1"], "message": "x".repeat(4000), "email": EMAIL});
    let (status, error) = error_of(app.cancel(&body).await).await;
    assert_eq!(
        (status, error["code"].as_str()),
        (413, Some("payload_too_large"))
    );
}

#[tokio::test]
async fn unknown_routes_and_methods_get_json_404_and_405() {
    let app = spawn_app().await;
    let (status, error) = error_of(
        app.client
            .get(app.url("/nope"))
            .send()
            .await
            .expect("answer"),
    )
    .await;
    assert_eq!((status, error["code"].as_str()), (404, Some("not_found")));
    let wrong_method = app
        .client
        .get(app.url("/documents/cancel"))
        .bearer_auth(API_KEY)
        .send();
    let (status, error) = error_of(wrong_method.await.expect("answer")).await;
    assert_eq!(
        (status, error["code"].as_str()),
        (405, Some("method_not_allowed"))
    );
}

#[tokio::test]
async fn request_ids_are_echoed_or_generated() {
    let app = spawn_app().await;
    let given = app
        .client
        .get(app.url("/livez"))
        .header("x-request-id", "abc-123")
        .send()
        .await
        .expect("answer");
    assert_eq!(given.headers()["x-request-id"], "abc-123");
    let generated = app
        .client
        .get(app.url("/livez"))
        .send()
        .await
        .expect("answer");
    assert_eq!(generated.headers()["x-request-id"].len(), 36);
    let unusable = app
        .client
        .get(app.url("/livez"))
        .header("x-request-id", "a b")
        .send()
        .await
        .expect("answer");
    assert_ne!(unusable.headers()["x-request-id"], "a b");
}

#[tokio::test]
async fn livez_answers_without_a_key() {
    let app = spawn_app().await;
    let response = app
        .client
        .get(app.url("/livez"))
        .send()
        .await
        .expect("answer");
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn metrics_expose_requests_documents_and_vendor_calls() {
    let app = spawn_app().await;
    wiremock::Mock::given(wiremock::matchers::path("/api/v1/refuse/"))
        .respond_with(wiremock::ResponseTemplate::new(200))
        .mount(app.vendor("zapsign"))
        .await;
    app.cancel_ok(&body_for(&[
        "0a1b2c3d-0000-4000-8000-000000000001",
        "lower-case",
    ]))
    .await;

    let response = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("answer");

    assert_eq!(response.status(), 200);
    let text = response.text().await.expect("text");
    for needle in [
        "signgate_http_requests_total{route=\"/documents/cancel\",status=\"200\"}",
        "signgate_http_request_duration_seconds_bucket{route=\"/documents/cancel\"",
        "signgate_documents_total{vendor=\"zapsign\",status=\"cancelled\",error_code=\"\"}",
        "signgate_documents_total{vendor=\"none\",status=\"failed\",error_code=\"unroutable\"}",
        "signgate_vendor_requests_total{vendor=\"zapsign\",outcome=\"ok\"}",
        "signgate_vendor_request_duration_seconds_bucket{vendor=\"zapsign\"",
        "signgate_vendor_circuit_open{vendor=\"auco\"} 0",
        "signgate_in_flight_requests",
    ] {
        assert!(text.contains(needle), "missing {needle} in\n{text}");
    }
}

#[tokio::test]
async fn the_openapi_document_is_served() {
    let app = spawn_app().await;
    let response = app
        .client
        .get(app.url("/openapi.yaml"))
        .send()
        .await
        .expect("answer");
    assert_eq!(response.status(), 200);
    let served = response.text().await.expect("text");
    assert!(served.starts_with("openapi: 3.1"));
    assert_eq!(served, include_str!("../../openapi.yaml"));
}

#[test]
fn every_code_the_gateway_can_answer_is_documented_in_the_openapi_document() {
    let document = include_str!("../../openapi.yaml");
    let outcome_codes = signgate::model::ALL_ERROR_CODES.map(|c| c.as_str());
    let request_codes = [
        "invalid_json",
        "invalid_request",
        "duplicate_code",
        "too_many_documents",
        "unauthorized",
        "not_found",
        "method_not_allowed",
        "idempotency_key_in_use",
        "body_timeout",
        "payload_too_large",
        "unsupported_media_type",
        "idempotency_key_reused",
        "unavailable",
        "internal",
    ];
    for code in outcome_codes.iter().chain(&request_codes) {
        assert!(document.contains(code), "`{code}` is not in openapi.yaml");
    }
}
