//! Idempotency and the audit trail through the API, each scenario on SQLite and on Postgres.

use std::time::Duration;

use serde_json::{json, Value};
use wiremock::matchers::path;
use wiremock::{Mock, ResponseTemplate};

use crate::helpers::*;
use crate::process::Gateway;
use crate::scratch::Scratch;

const TOKEN: &str = "0a1b2c3d-0000-4000-8000-000000000001";

on_both_stores!(
    a_repeated_key_and_body_replay_the_stored_answer_without_a_vendor_call,
    a_key_reused_with_another_body_gets_422,
    a_key_still_in_use_gets_409,
    every_document_leaves_an_audit_row_with_its_outcome,
    a_store_that_cannot_be_written_gets_503_and_no_vendor_call,
    a_gateway_killed_mid_call_leaves_pending_rows_the_restarted_gateway_serves,
    a_request_id_used_twice_leaves_two_attempts,
    two_replicas_sharing_a_store_never_run_one_key_twice,
);

async fn send_with_key(app: &TestApp, key: &str, body: &Value) -> reqwest::Response {
    app.client
        .post(app.url("/documents/cancel"))
        .bearer_auth(API_KEY)
        .header("Idempotency-Key", key)
        .json(body)
        .send()
        .await
        .expect("answer")
}

async fn history(app: &TestApp, code: &str) -> Value {
    let response = app
        .client
        .get(app.url("/documents/cancellations"))
        .query(&[("code", code)])
        .bearer_auth(API_KEY)
        .send()
        .await
        .expect("answer");
    assert_eq!(response.status(), 200);
    response.json().await.expect("json")
}

async fn a_repeated_key_and_body_replay_the_stored_answer_without_a_vendor_call(store: &str) {
    let app = spawn_app_with(&[("SIGNGATE__STORE__URL", store)]).await;
    Mock::given(path("/api/v1/refuse/"))
        .respond_with(ResponseTemplate::new(200))
        .expect(1)
        .mount(app.vendor("zapsign"))
        .await;
    let body = body_for(&[TOKEN, "lower-case"]);

    let first = send_with_key(&app, "order-42", &body).await;
    assert!(first.headers().get("idempotent-replayed").is_none());
    let first = first.bytes().await.expect("body");
    let second = send_with_key(&app, "order-42", &body).await;

    assert_eq!(second.status(), 200);
    assert_eq!(second.headers()["idempotent-replayed"], "true");
    assert_eq!(
        second.bytes().await.expect("body"),
        first,
        "the replay is byte for byte"
    );
}

async fn a_key_reused_with_another_body_gets_422(store: &str) {
    let app = spawn_app_with(&[("SIGNGATE__STORE__URL", store)]).await;
    Mock::given(path("/api/v1/refuse/"))
        .respond_with(ResponseTemplate::new(200))
        .expect(1)
        .mount(app.vendor("zapsign"))
        .await;

    let first = send_with_key(&app, "order-43", &body_for(&[TOKEN])).await;
    let other = send_with_key(&app, "order-43", &body_for(&[TOKEN, "lower-case"])).await;

    assert_eq!(first.status(), 200);
    assert_eq!(other.status(), 422);
    let error: Value = other.json().await.expect("json");
    assert_eq!(error["error"]["code"], "idempotency_key_reused");
}

async fn a_key_still_in_use_gets_409(store: &str) {
    let app = spawn_app_with(&[("SIGNGATE__STORE__URL", store)]).await;
    Mock::given(path("/api/v1/refuse/"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_millis(800)))
        .expect(1)
        .mount(app.vendor("zapsign"))
        .await;
    let body = body_for(&[TOKEN]);

    let first = send_with_key(&app, "order-44", &body);
    let second = async {
        tokio::time::sleep(Duration::from_millis(250)).await;
        send_with_key(&app, "order-44", &body).await
    };
    let (first, second) = tokio::join!(first, second);

    assert_eq!(first.status(), 200);
    assert_eq!(second.status(), 409);
    let error: Value = second.json().await.expect("json");
    assert_eq!(error["error"]["code"], "idempotency_key_in_use");
}

async fn every_document_leaves_an_audit_row_with_its_outcome(store: &str) {
    let app = spawn_app_with(&[
        ("SIGNGATE__STORE__URL", store),
        ("SIGNGATE__VENDORS__AUCO__PUBLIC_KEY", ""),
    ])
    .await;
    Mock::given(path("/api/v1/refuse/"))
        .respond_with(ResponseTemplate::new(200))
        .mount(app.vendor("zapsign"))
        .await;
    Mock::given(path("/v1.5/ext/document/cancel"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"success": 0, "errors": {"cant": 1, "documents": ["TR99AQMY31"]}}),
        ))
        .mount(app.vendor("auco"))
        .await;
    let prefixed = format!("zapsign:{TOKEN}");

    let answer = send_with_key(
        &app,
        "order-45",
        &body_for(&[&prefixed, "TR99AQMY31", "lower-case"]),
    )
    .await;
    assert_eq!(answer.status(), 200);
    let request_id = answer.headers()["x-request-id"]
        .to_str()
        .expect("ascii")
        .to_owned();

    let zapsign = history(&app, &prefixed).await;
    let row = &zapsign["attempts"][0];
    assert_eq!(zapsign["code"], prefixed.as_str());
    assert_eq!(row["request_id"], request_id.as_str());
    assert_eq!(row["idempotency_key"], "order-45");
    assert_eq!(row["email"], EMAIL);
    assert_eq!(row["message"], MESSAGE);
    assert_eq!(row["vendor"], "zapsign");
    assert_eq!(row["vendor_code"], TOKEN);
    assert_eq!(row["status"], "cancelled");
    assert_eq!(row["error_code"], Value::Null);
    assert_eq!(row["vendor_status"], 200);
    assert_eq!(row["vendor_calls"], 1);
    assert!(row["finished_at"]
        .as_str()
        .is_some_and(|t| t >= row["received_at"].as_str().unwrap_or("")));
    let auco = history(&app, "TR99AQMY31").await;
    assert_eq!(auco["attempts"][0]["status"], "failed");
    assert_eq!(auco["attempts"][0]["error_code"], "vendor_refused");
    let unroutable = history(&app, "lower-case").await;
    assert_eq!(unroutable["attempts"][0]["error_code"], "unroutable");
    assert_eq!(unroutable["attempts"][0]["vendor"], Value::Null);
    assert_eq!(unroutable["attempts"][0]["vendor_calls"], 0);
    assert_eq!(history(&app, "NEVERSEEN1").await["attempts"], json!([]));
}

async fn a_store_that_cannot_be_written_gets_503_and_no_vendor_call(store: &str) {
    let app = spawn_app_with(&[("SIGNGATE__STORE__URL", store)]).await;
    Mock::given(path("/api/v1/refuse/"))
        .respond_with(ResponseTemplate::new(200))
        .expect(0)
        .mount(app.vendor("zapsign"))
        .await;
    app.store.close().await;

    let plain = app.cancel(&body_for(&[TOKEN])).await;
    let keyed = send_with_key(&app, "order-46", &body_for(&[TOKEN])).await;
    let ready = app
        .client
        .get(app.url("/readyz"))
        .send()
        .await
        .expect("answer");

    for response in [plain, keyed] {
        assert_eq!(response.status(), 503);
        assert!(response.headers().contains_key("retry-after"));
        let error: Value = response.json().await.expect("json");
        assert_eq!(error["error"]["code"], "unavailable");
    }
    assert_eq!(ready.status(), 503);
}

async fn a_gateway_killed_mid_call_leaves_pending_rows_the_restarted_gateway_serves(store: &str) {
    let vendors = MockVendors::start().await;
    let zapsign = vendors.get("zapsign");
    Mock::given(path("/api/v1/refuse/"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(30)))
        .mount(zapsign)
        .await;
    let mut vars = base_vars(&vendors);
    vars.insert("SIGNGATE__STORE__URL".into(), store.to_owned());
    let vars: Vec<(String, String)> = vars.into_iter().collect();
    let mut gateway = Gateway::start(&vars);
    let address = gateway.wait_for("signgate is listening.")["address"]
        .as_str()
        .expect("address")
        .to_owned();

    let request = tokio::spawn(
        reqwest::Client::new()
            .post(format!("http://{address}/documents/cancel"))
            .bearer_auth(API_KEY)
            .json(&body_for(&[TOKEN]))
            .send(),
    );
    while zapsign
        .received_requests()
        .await
        .unwrap_or_default()
        .is_empty()
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    gateway.kill();
    assert!(
        request.await.expect("task").is_err(),
        "a killed gateway cannot answer"
    );

    let mut restarted = Gateway::start(&vars);
    let address = restarted.wait_for("signgate is listening.")["address"]
        .as_str()
        .expect("address")
        .to_owned();
    let trail: Value = reqwest::Client::new()
        .get(format!(
            "http://{address}/documents/cancellations?code={TOKEN}"
        ))
        .bearer_auth(API_KEY)
        .send()
        .await
        .expect("answer")
        .json()
        .await
        .expect("json");
    restarted.terminate();
    let (code, output) = restarted.finish();

    assert_eq!(trail["attempts"][0]["status"], "pending", "{trail}");
    assert_eq!(trail["attempts"][0]["finished_at"], Value::Null);
    assert_eq!(trail["attempts"][0]["vendor"], "zapsign");
    assert_eq!(code, Some(0), "{output}");
}

async fn a_request_id_used_twice_leaves_two_attempts(store: &str) {
    let app = spawn_app_with(&[("SIGNGATE__STORE__URL", store)]).await;
    Mock::given(path("/api/v1/refuse/"))
        .respond_with(ResponseTemplate::new(200))
        .expect(2)
        .mount(app.vendor("zapsign"))
        .await;
    let send = || {
        app.client
            .post(app.url("/documents/cancel"))
            .bearer_auth(API_KEY)
            .header("X-Request-Id", "client-retry-1")
            .json(&body_for(&[TOKEN]))
            .send()
    };

    let first = send().await.expect("answer");
    let second = send().await.expect("answer");

    assert_eq!(
        (first.status().as_u16(), second.status().as_u16()),
        (200, 200)
    );
    let attempts = history(&app, TOKEN).await["attempts"].clone();
    assert_eq!(attempts.as_array().map(Vec::len), Some(2), "{attempts}");
    assert!(attempts
        .as_array()
        .into_iter()
        .flatten()
        .all(|a| a["request_id"] == "client-retry-1"));
}

async fn two_replicas_sharing_a_store_never_run_one_key_twice(store: &str) {
    // Two gateways with their own pools and state, like two replicas, on one database.
    let first = spawn_app_with(&[("SIGNGATE__STORE__URL", store)]).await;
    let zapsign = first.vendor("zapsign").uri();
    let vendor = format!("{zapsign}/api/v1");
    let second = spawn_app_with(&[
        ("SIGNGATE__STORE__URL", store),
        ("SIGNGATE__VENDORS__ZAPSIGN__BASE_URL", &vendor),
    ])
    .await;
    Mock::given(path("/api/v1/refuse/"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_millis(500)))
        .expect(1)
        .mount(first.vendor("zapsign"))
        .await;
    let body = body_for(&[TOKEN]);

    let (a, b) = tokio::join!(
        send_with_key(&first, "order-47", &body),
        send_with_key(&second, "order-47", &body),
    );
    let mut statuses = [a.status().as_u16(), b.status().as_u16()];
    statuses.sort_unstable();
    let replay = send_with_key(&second, "order-47", &body).await;

    assert_eq!(statuses, [200, 409], "exactly one replica runs the key");
    assert_eq!(replay.status(), 200);
    assert_eq!(replay.headers()["idempotent-replayed"], "true");
}

#[tokio::test]
async fn a_code_its_vendor_cannot_hold_is_rejected_and_recorded_without_a_call() {
    let app = spawn_app().await;
    Mock::given(wiremock::matchers::any())
        .respond_with(ResponseTemplate::new(200))
        .expect(0)
        .mount(app.vendor("clicksign"))
        .await;

    let answer = app.cancel_ok(&body_for(&["clicksign:not-a-pair"])).await;

    let result = &answer["results"][0];
    assert_eq!(result["vendor"], "clicksign", "{answer}");
    assert_eq!(result["error"]["code"], "rejected", "{answer}");
    let row = &history(&app, "clicksign:not-a-pair").await["attempts"][0];
    assert_eq!(row["status"], "failed", "{row}");
    assert_eq!(row["error_code"], "rejected", "{row}");
    assert_eq!(row["vendor_calls"], 0, "{row}");
    assert_eq!(row["vendor_status"], Value::Null, "{row}");
}
