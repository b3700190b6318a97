//! `POST /documents/cancel` end to end: exact upstream requests, the merged answer, batching,
//! concurrency without cross-talk, and the per-vendor concurrency cap.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use signgate::vendors::{auco, zapsign};
use wiremock::matchers::{body_json, header, method, path};
use wiremock::{Mock, Request, Respond, ResponseTemplate};

use crate::helpers::*;

const SIGNED_UUID: &str = "bfe4e2c7-33be-4a70-8669-a0491f92e795";
const OPEN_UUID: &str = "0a1b2c3d-0000-4000-8000-000000000001";

#[tokio::test]
async fn a_mixed_request_sends_exact_vendor_calls_and_merges_the_answers_in_order() {
    // Arrange
    let app = spawn_app().await;
    Mock::given(method("POST"))
        .and(path("/v1.5/ext/document/cancel"))
        .and(header("authorization", auco::conformance::PRIVATE_KEY))
        .and(header(
            "user-agent",
            concat!("signgate/", env!("CARGO_PKG_VERSION")),
        ))
        .and(header("x-request-id", "req-mixed-1"))
        .and(body_json(json!({
            "codes": ["TR99AQMY31", "AUCO000002"],
            "message": MESSAGE,
            "email": EMAIL,
        })))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "success": 1, "errors": {"cant": 1, "documents": ["AUCO000002"]}
        })))
        .expect(1)
        .mount(app.vendor("auco"))
        .await;
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
            .and(header(
                "user-agent",
                concat!("signgate/", env!("CARGO_PKG_VERSION")),
            ))
            .and(header("x-request-id", "req-mixed-1"))
            .and(body_json(json!({
                "doc_token": token, "rejected_reason": MESSAGE, "notify_signer": false,
            })))
            .respond_with(answer)
            .expect(1)
            .mount(app.vendor("zapsign"))
            .await;
    }
    let prefixed = format!("zapsign:{OPEN_UUID}");
    let body = json!({
        "codes": ["TR99AQMY31", SIGNED_UUID, "AUCO000002", prefixed, "lower-case", "docusign:X1"],
        "message": format!("  {MESSAGE}  "),
        "email": EMAIL,
        "notify_signers": false,
    });

    // Act
    let response = app
        .client
        .post(app.url("/documents/cancel"))
        .header("Authorization", API_KEY)
        .header("X-Request-Id", "req-mixed-1")
        .json(&body)
        .send()
        .await
        .expect("answer");

    // Assert
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-request-id"], "req-mixed-1");
    let answer: Value = response.json().await.expect("json");
    assert_eq!(
        answer,
        json!({
            "success": 2,
            "errors": {"cant": 4, "documents": [SIGNED_UUID, "AUCO000002", "lower-case", "docusign:X1"]},
            "results": [
                {"code": "TR99AQMY31", "vendor": "auco", "status": "cancelled"},
                {"code": SIGNED_UUID, "vendor": "zapsign", "status": "failed", "error": {
                    "code": "already_signed", "message": "The document is already signed.", "retryable": false}},
                {"code": "AUCO000002", "vendor": "auco", "status": "failed", "error": {
                    "code": "vendor_refused", "retryable": false,
                    "message": "Auco refused to cancel the document without saying why (it may be signed, already cancelled or unknown)."}},
                {"code": prefixed, "vendor": "zapsign", "status": "cancelled"},
                {"code": "lower-case", "status": "failed", "error": {
                    "code": "unroutable", "retryable": false,
                    "message": "No routing rule matches this code; prefix it with a vendor name."}},
                {"code": "docusign:X1", "status": "failed", "error": {
                    "code": "unknown_vendor", "retryable": false,
                    "message": "The prefix `docusign:` names no configured vendor."}},
            ]
        })
    );
}

#[tokio::test]
async fn an_all_cancelled_answer_has_no_documents_list() {
    let app = spawn_app().await;
    Mock::given(path("/v1.5/ext/document/cancel"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"success": 1, "errors": {"cant": 0}})),
        )
        .expect(1)
        .mount(app.vendor("auco"))
        .await;

    let answer = app.cancel_ok(&body_for(&["TR99AQMY31"])).await;

    assert_eq!(answer["success"], 1);
    assert_eq!(answer["errors"], json!({"cant": 0}));
}

#[tokio::test]
async fn documents_of_a_vendor_without_credentials_fail_and_call_nobody() {
    let app = spawn_app_with(&[("SIGNGATE__VENDORS__ZAPSIGN__API_TOKEN", "")]).await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .expect(0)
        .mount(app.vendor("zapsign"))
        .await;

    let answer = app.cancel_ok(&body_for(&[OPEN_UUID])).await;

    assert_eq!(answer["results"][0]["vendor"], "zapsign");
    assert_eq!(
        answer["results"][0]["error"]["code"],
        "vendor_not_configured"
    );
}

#[tokio::test]
async fn auco_codes_are_sent_in_batches_of_batch_size() {
    let app = spawn_app_with(&[("SIGNGATE__VENDORS__AUCO__BATCH_SIZE", "2")]).await;
    Mock::given(path("/v1.5/ext/document/cancel"))
        .respond_with(EchoAuco)
        .expect(3)
        .mount(app.vendor("auco"))
        .await;
    let codes = [
        "AUCO000001",
        "AUCO000003",
        "AUCO000005",
        "AUCO000007",
        "AUCO000009",
    ];

    let answer = app.cancel_ok(&body_for(&codes)).await;

    assert_eq!(answer["success"], 5);
    let sizes: Vec<usize> = app
        .vendor("auco")
        .received_requests()
        .await
        .expect("recorded")
        .iter()
        .map(|r| {
            r.body_json::<Value>().expect("json")["codes"]
                .as_array()
                .map_or(0, Vec::len)
        })
        .collect();
    assert_eq!(sizes.iter().sum::<usize>(), 5);
    assert!(sizes.iter().all(|&n| n <= 2), "{sizes:?}");
}

#[tokio::test]
async fn a_refused_connection_fails_only_that_vendors_documents() {
    let dead = format!("{}/v1.5/ext", refused_address());
    let app = spawn_app_with(&[("SIGNGATE__VENDORS__AUCO__BASE_URL", &dead)]).await;
    Mock::given(path("/api/v1/refuse/"))
        .respond_with(ResponseTemplate::new(200))
        .expect(1)
        .mount(app.vendor("zapsign"))
        .await;

    let answer = app.cancel_ok(&body_for(&["TR99AQMY31", OPEN_UUID])).await;

    assert_eq!(answer["results"][0]["error"]["code"], "vendor_unavailable");
    assert_eq!(answer["results"][0]["error"]["retryable"], true);
    assert_eq!(answer["results"][1]["status"], "cancelled");
}

#[tokio::test]
async fn concurrent_requests_each_get_their_own_answers() {
    let app = spawn_app().await;
    Mock::given(path("/v1.5/ext/document/cancel"))
        .respond_with(EchoAuco)
        .mount(app.vendor("auco"))
        .await;

    let requests = (0..30).map(|i| {
        let codes = [format!("REQ{i:03}AAA1"), format!("REQ{i:03}AAA2")];
        let app = &app;
        async move {
            let refs: Vec<&str> = codes.iter().map(String::as_str).collect();
            (codes.clone(), app.cancel_ok(&body_for(&refs)).await)
        }
    });
    let answers = futures::future::join_all(requests).await;

    for (codes, answer) in answers {
        let got: Vec<&str> = answer["results"]
            .as_array()
            .expect("results")
            .iter()
            .map(|r| r["code"].as_str().unwrap_or(""))
            .collect();
        assert_eq!(got, codes, "answer mixed up with another request's");
        // EchoAuco refuses codes ending in 2: the refusal must land on this request's code.
        assert_eq!(answer["errors"]["documents"], json!([codes[1]]));
    }
}

#[tokio::test]
async fn calls_to_one_vendor_never_exceed_max_concurrency() {
    let gauge = Arc::new(Gauge::default());
    let zapsign = spawn_counting_zapsign(Arc::clone(&gauge)).await;
    let app = spawn_app_with(&[
        ("SIGNGATE__VENDORS__ZAPSIGN__MAX_CONCURRENCY", "3"),
        ("SIGNGATE__VENDORS__ZAPSIGN__BASE_URL", &zapsign),
    ])
    .await;
    let tokens: Vec<String> = (0..12)
        .map(|i| format!("0a1b2c3d-0000-4000-8000-{i:012}"))
        .collect();
    let refs: Vec<&str> = tokens.iter().map(String::as_str).collect();

    let answer = app.cancel_ok(&body_for(&refs)).await;

    assert_eq!(answer["success"], 12);
    assert_eq!(gauge.calls.load(Ordering::SeqCst), 12);
    let peak = gauge.peak.load(Ordering::SeqCst);
    assert_eq!(peak, 3, "peak concurrency");
}

/// Answers an Auco batch: codes ending in `2` are refused, the others cancelled.
struct EchoAuco;

impl Respond for EchoAuco {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let body: Value = request.body_json().expect("json body");
        let codes: Vec<String> = serde_json::from_value(body["codes"].clone()).expect("codes");
        let refused: Vec<&String> = codes.iter().filter(|c| c.ends_with('2')).collect();
        let mut errors = json!({"cant": refused.len()});
        if !refused.is_empty() {
            errors["documents"] = json!(refused);
        }
        ResponseTemplate::new(200)
            .set_body_json(json!({"success": codes.len() - refused.len(), "errors": errors}))
            .set_delay(Duration::from_millis(20))
    }
}

/// Counts ZapSign calls in flight and their peak.
#[derive(Default)]
struct Gauge {
    now: AtomicUsize,
    peak: AtomicUsize,
    calls: AtomicUsize,
}

/// A ZapSign stand-in whose every refuse takes 100 ms, so overlapping calls are visible.
async fn spawn_counting_zapsign(gauge: Arc<Gauge>) -> String {
    async fn refuse(axum::extract::State(gauge): axum::extract::State<Arc<Gauge>>) -> &'static str {
        gauge.calls.fetch_add(1, Ordering::SeqCst);
        let current = gauge.now.fetch_add(1, Ordering::SeqCst) + 1;
        gauge.peak.fetch_max(current, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(100)).await;
        gauge.now.fetch_sub(1, Ordering::SeqCst);
        "{}"
    }
    let router = axum::Router::new()
        .route("/api/v1/refuse/", axum::routing::post(refuse))
        .with_state(gauge);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move { axum::serve(listener, router).await });
    format!("http://{address}/api/v1")
}
