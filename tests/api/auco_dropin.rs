//! `POST /v1.5/ext/document/cancel`, the Auco drop-in: Auco's exact request and answer, the
//! bare key and Auco's error body, every code routed as usual, idempotent replays that never
//! cross endpoints, the audit trail and the route's own metric label.

use serde_json::{json, Value};
use signgate::vendors::{auco, zapsign};
use wiremock::matchers::{body_json, header, method, path};
use wiremock::{Mock, ResponseTemplate};

use crate::helpers::*;
use crate::scratch::Scratch;

const DROP_IN: &str = "/v1.5/ext/document/cancel";
const SIGNED_UUID: &str = "bfe4e2c7-33be-4a70-8669-a0491f92e795";
const OPEN_UUID: &str = "0a1b2c3d-0000-4000-8000-000000000001";

on_both_stores!(
    a_replay_returns_the_same_auco_bytes_without_a_vendor_call,
    one_key_cannot_be_used_on_both_cancel_endpoints,
);

/// `POST` to the drop-in as an Auco client does: the key bare in `Authorization`.
async fn drop_in(app: &TestApp, authorization: Option<&str>, body: &Value) -> reqwest::Response {
    let mut request = app.client.post(app.url(DROP_IN)).json(body);
    if let Some(value) = authorization {
        request = request.header("Authorization", value);
    }
    request.send().await.expect("the gateway answers")
}

/// The answer's status and its body as text, exactly as sent.
async fn raw(response: reqwest::Response) -> (u16, String) {
    let status = response.status().as_u16();
    (status, response.text().await.expect("a body"))
}

async fn auco_cancels_all(app: &TestApp, expected_calls: u64) {
    Mock::given(method("POST"))
        .and(path("/v1.5/ext/document/cancel"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"success": 1, "errors": {"cant": 0}})),
        )
        .expect(expected_calls)
        .mount(app.vendor("auco"))
        .await;
}

#[tokio::test]
async fn an_auco_client_changing_only_its_base_url_gets_auco_s_exact_answer() {
    // Arrange: Auco expects exactly what the app would have sent it.
    let app = spawn_app().await;
    Mock::given(method("POST"))
        .and(path("/v1.5/ext/document/cancel"))
        .and(header("authorization", auco::conformance::PRIVATE_KEY))
        .and(body_json(json!({
            "codes": ["TR99AQMY31"], "message": MESSAGE, "email": EMAIL,
        })))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"success": 1, "errors": {"cant": 0}})),
        )
        .expect(1)
        .mount(app.vendor("auco"))
        .await;

    // Act
    let response = drop_in(&app, Some(API_KEY), &body_for(&["TR99AQMY31"])).await;

    // Assert: Auco's shape and nothing else; `documents` absent when nothing failed.
    assert_eq!(response.headers()["content-type"], "application/json");
    assert_eq!(
        raw(response).await,
        (200, r#"{"success":1,"errors":{"cant":0}}"#.to_owned())
    );
}

#[tokio::test]
async fn every_code_routes_as_usual_and_failed_codes_are_listed_as_auco_lists_them() {
    // Arrange: one Auco code, two ZapSign codes (one signed), one unroutable code.
    let app = spawn_app().await;
    auco_cancels_all(&app, 1).await;
    for (token, answer) in [
        (
            SIGNED_UUID,
            ResponseTemplate::new(403).set_body_json(json!({"error": "document_already_signed"})),
        ),
        (
            OPEN_UUID,
            ResponseTemplate::new(200).set_body_json(json!({"message": "Documento recusado"})),
        ),
    ] {
        Mock::given(method("POST"))
            .and(path("/api/v1/refuse/"))
            .and(header(
                "authorization",
                format!("Bearer {}", zapsign::conformance::API_TOKEN).as_str(),
            ))
            // Auco always notifies signers, so the drop-in does too.
            .and(body_json(json!({
                "doc_token": token, "rejected_reason": MESSAGE, "notify_signer": true,
            })))
            .respond_with(answer)
            .expect(1)
            .mount(app.vendor("zapsign"))
            .await;
    }
    let codes = ["TR99AQMY31", SIGNED_UUID, OPEN_UUID, "lower-case"];

    // Act
    let response = drop_in(&app, Some(API_KEY), &body_for(&codes)).await;

    // Assert
    let expected = format!(
        r#"{{"success":2,"errors":{{"cant":2,"documents":["{SIGNED_UUID}","lower-case"]}}}}"#
    );
    assert_eq!(raw(response).await, (200, expected));
}

#[tokio::test]
async fn the_key_must_be_sent_bare_and_a_refusal_has_auco_s_message_body() {
    let app = spawn_app().await;
    auco_cancels_all(&app, 0).await;
    let body = body_for(&["TR99AQMY31"]);
    let bearer = format!("Bearer {API_KEY}");

    let answers = [
        raw(drop_in(&app, Some(&bearer), &body).await).await,
        raw(drop_in(&app, Some("wrong-key"), &body).await).await,
        raw(drop_in(&app, None, &body).await).await,
    ];

    let refusal = (
        401,
        r#"{"message":"A valid API key is required."}"#.to_owned(),
    );
    assert_eq!(answers, [refusal.clone(), refusal.clone(), refusal]);
}

#[tokio::test]
async fn request_errors_keep_the_cancel_rules_with_auco_s_message_body() {
    let app = spawn_app().await;
    auco_cancels_all(&app, 0).await;
    let cases = [
        (
            json!({"codes": ["TR99AQMY31"], "message": MESSAGE}),
            "email: is required",
        ),
        (
            json!({"codes": ["TR99AQMY31", "B C"], "message": MESSAGE, "email": EMAIL}),
            "codes[1]: contains a character outside A-Z a-z 0-9 . _ : -",
        ),
        (
            json!({"codes": ["TR99AQMY31"], "message": MESSAGE, "email": EMAIL, "notify_signers": false}),
            "notify_signers: unknown field; expected codes, message, email",
        ),
        (
            json!({"codes": ["TR99AQMY31", "TR99AQMY31"], "message": MESSAGE, "email": EMAIL}),
            "codes[1]: `TR99AQMY31` already appears at codes[0]",
        ),
    ];
    for (body, message) in cases {
        let (status, text) = raw(drop_in(&app, Some(API_KEY), &body).await).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(
            serde_json::from_str::<Value>(&text).expect("json"),
            json!({ "message": message })
        );
    }
    let not_json = app
        .client
        .post(app.url(DROP_IN))
        .header("Authorization", API_KEY)
        .header("Content-Type", "text/plain")
        .body("codes=TR99AQMY31")
        .send()
        .await
        .expect("answer");
    assert_eq!(
        raw(not_json).await,
        (
            415,
            r#"{"message":"The body must be sent as Content-Type: application/json."}"#.to_owned()
        )
    );
}

async fn a_replay_returns_the_same_auco_bytes_without_a_vendor_call(store: &str) {
    let app = spawn_app_with(&[("SIGNGATE__STORE__URL", store)]).await;
    auco_cancels_all(&app, 1).await;
    let send = || {
        app.client
            .post(app.url(DROP_IN))
            .header("Authorization", API_KEY)
            .header("Idempotency-Key", "drop-in-replay-1")
            .json(&body_for(&["TR99AQMY31"]))
            .send()
    };

    let first = send().await.expect("answer");
    let second = send().await.expect("answer");

    assert!(first.headers().get("idempotent-replayed").is_none());
    assert_eq!(second.headers()["idempotent-replayed"], "true");
    let first = raw(first).await;
    assert_eq!(
        first,
        (200, r#"{"success":1,"errors":{"cant":0}}"#.to_owned())
    );
    assert_eq!(raw(second).await, first);
}

async fn one_key_cannot_be_used_on_both_cancel_endpoints(store: &str) {
    let app = spawn_app_with(&[("SIGNGATE__STORE__URL", store)]).await;
    auco_cancels_all(&app, 2).await;
    let body = body_for(&["TR99AQMY31"]);
    let on = |path: &'static str, key: &'static str| {
        app.client
            .post(app.url(path))
            .header("Authorization", API_KEY)
            .header("Idempotency-Key", key)
            .json(&body)
            .send()
    };

    let drop_in_first = on(DROP_IN, "shared-key-1").await.expect("answer");
    let then_cancel = on("/documents/cancel", "shared-key-1")
        .await
        .expect("answer");
    let cancel_first = on("/documents/cancel", "shared-key-2")
        .await
        .expect("answer");
    let then_drop_in = on(DROP_IN, "shared-key-2").await.expect("answer");

    assert_eq!(drop_in_first.status(), 200);
    assert_eq!(cancel_first.status(), 200);
    let refused: Value = then_cancel.json().await.expect("json");
    assert_eq!(refused["error"]["code"], "idempotency_key_reused");
    assert_eq!(
        raw(then_drop_in).await,
        (
            422,
            r#"{"message":"This Idempotency-Key was already used with a different request body."}"#
                .to_owned()
        )
    );
}

#[tokio::test]
async fn drop_in_cancels_are_in_the_audit_trail_and_under_their_own_route_label() {
    let app = spawn_app().await;
    auco_cancels_all(&app, 1).await;
    let response = app
        .client
        .post(app.url(DROP_IN))
        .header("Authorization", API_KEY)
        .header("X-Request-Id", "req-drop-in-1")
        .header("Idempotency-Key", "drop-in-audit-1")
        .json(&body_for(&["TR99AQMY31"]))
        .send()
        .await
        .expect("answer");
    assert_eq!(response.status(), 200);

    let trail: Value = app
        .client
        .get(app.url("/documents/cancellations?code=TR99AQMY31"))
        .bearer_auth(API_KEY)
        .send()
        .await
        .expect("answer")
        .json()
        .await
        .expect("json");
    let metrics = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("answer")
        .text()
        .await
        .expect("text");

    let attempt = &trail["attempts"][0];
    assert_eq!(trail["attempts"].as_array().map(Vec::len), Some(1));
    assert_eq!(attempt["request_id"], "req-drop-in-1");
    assert_eq!(attempt["idempotency_key"], "drop-in-audit-1");
    assert_eq!(attempt["email"], EMAIL);
    assert_eq!(attempt["message"], MESSAGE);
    assert_eq!(attempt["vendor"], "auco");
    assert_eq!(attempt["status"], "cancelled");
    assert!(attempt["finished_at"].is_string());
    let label = format!("signgate_http_requests_total{{route=\"{DROP_IN}\",status=\"200\"}}");
    assert!(metrics.contains(&label), "missing {label} in\n{metrics}");
}
