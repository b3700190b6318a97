//! `GET /documents/status`: every normalized state from each vendor's status read, routing
//! and read failures as per-code errors, request errors, and reads paced like cancels.

use serde_json::{json, Value};
use signgate::vendors::auco;
use wiremock::matchers::{header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::*;

const PENDING_UUID: &str = "0a1b2c3d-0000-4000-8000-000000000001";
const MISSING_UUID: &str = "0a1b2c3d-0000-4000-8000-000000000002";
const SIGNED_UUID: &str = "bfe4e2c7-33be-4a70-8669-a0491f92e795";

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

async fn status_ok(app: &TestApp, codes: &[&str]) -> Value {
    let response = status_of(app, codes).await;
    assert_eq!(response.status(), 200);
    response.json().await.expect("a JSON answer")
}

/// Auco's status read of `code` answers `status` (`DOCUMENT_NOT_FOUND`: Auco's `400`).
async fn auco_reads(server: &MockServer, code: &str, status: &str) {
    let answer = match status {
        "DOCUMENT_NOT_FOUND" => {
            ResponseTemplate::new(400).set_body_json(json!({"message": "DOCUMENT_NOT_FOUND"}))
        }
        state => ResponseTemplate::new(200).set_body_json(json!({"code": code, "status": state})),
    };
    Mock::given(method("GET"))
        .and(path("/v1.5/ext/document"))
        .and(query_param("code", code))
        .and(header("authorization", auco::conformance::PUBLIC_KEY))
        .respond_with(answer)
        .expect(1)
        .mount(server)
        .await;
}

/// ZapSign's status read of `token` answers with `answer`.
async fn zapsign_reads(server: &MockServer, token: &str, answer: ResponseTemplate) {
    Mock::given(method("GET"))
        .and(path(format!("/api/v1/docs/{token}/")))
        .respond_with(answer)
        .expect(1)
        .mount(server)
        .await;
}

fn zapsign_state(state: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({"status": state}))
}

#[tokio::test]
async fn every_state_is_read_from_the_code_s_vendor_and_answered_in_request_order() {
    // Arrange
    let app = spawn_app().await;
    let (auco, zapsign) = (app.vendor("auco"), app.vendor("zapsign"));
    auco_reads(auco, "AUCO000001", "CREATED").await;
    auco_reads(auco, "AUCO000003", "REJECTED").await;
    auco_reads(auco, "AUCO000005", "FINISH").await;
    auco_reads(auco, "AUCO000007", "EXPIRED").await;
    auco_reads(auco, "AUCO000009", "DOCUMENT_NOT_FOUND").await;
    zapsign_reads(zapsign, PENDING_UUID, zapsign_state("pending")).await;
    zapsign_reads(zapsign, MISSING_UUID, ResponseTemplate::new(404)).await;
    zapsign_reads(zapsign, SIGNED_UUID, zapsign_state("signed")).await;
    let prefixed = format!("zapsign:{SIGNED_UUID}");
    let codes = [
        "AUCO000001",
        PENDING_UUID,
        "AUCO000003",
        "AUCO000005",
        "AUCO000007",
        "AUCO000009",
        MISSING_UUID,
        &prefixed,
    ];

    // Act
    let answer = status_ok(&app, &codes).await;

    // Assert
    assert_eq!(
        answer,
        json!({"results": [
            {"code": "AUCO000001", "vendor": "auco", "state": "in_progress"},
            {"code": PENDING_UUID, "vendor": "zapsign", "state": "in_progress"},
            {"code": "AUCO000003", "vendor": "auco", "state": "cancelled"},
            {"code": "AUCO000005", "vendor": "auco", "state": "signed"},
            {"code": "AUCO000007", "vendor": "auco", "state": "closed"},
            {"code": "AUCO000009", "vendor": "auco", "state": "not_found"},
            {"code": MISSING_UUID, "vendor": "zapsign", "state": "not_found"},
            {"code": prefixed, "vendor": "zapsign", "state": "signed"},
        ]})
    );
}

#[tokio::test]
async fn routing_failures_and_vendors_without_a_status_read_are_per_code_errors() {
    // Arrange: Auco without its public key, ZapSign without its token.
    let app = spawn_app_with(&[
        ("SIGNGATE__VENDORS__AUCO__PUBLIC_KEY", ""),
        ("SIGNGATE__VENDORS__ZAPSIGN__API_TOKEN", ""),
    ])
    .await;
    for vendor in ["auco", "zapsign"] {
        Mock::given(method("GET"))
            .respond_with(ResponseTemplate::new(200))
            .expect(0)
            .mount(app.vendor(vendor))
            .await;
    }

    // Act
    let answer = status_ok(
        &app,
        &["TR99AQMY31", PENDING_UUID, "lower-case", "docusign:X1"],
    )
    .await;

    // Assert
    assert_eq!(
        answer,
        json!({"results": [
            {"code": "TR99AQMY31", "vendor": "auco", "error": {
                "code": "status_unavailable", "retryable": false,
                "message": "The vendor `auco` has no status read configured."}},
            {"code": PENDING_UUID, "vendor": "zapsign", "error": {
                "code": "vendor_not_configured", "retryable": false,
                "message": "The vendor `zapsign` has no credentials configured."}},
            {"code": "lower-case", "error": {
                "code": "unroutable", "retryable": false,
                "message": "No routing rule matches this code; prefix it with a vendor name."}},
            {"code": "docusign:X1", "error": {
                "code": "unknown_vendor", "retryable": false,
                "message": "The prefix `docusign:` names no configured vendor."}},
        ]})
    );
}

#[tokio::test]
async fn a_failed_read_answers_the_upstream_error_s_code_for_that_code_only() {
    let app = spawn_app().await;
    Mock::given(method("GET"))
        .and(path(format!("/api/v1/docs/{PENDING_UUID}/")))
        .respond_with(ResponseTemplate::new(500).set_body_string("<html>Server Error</html>"))
        .mount(app.vendor("zapsign"))
        .await;
    Mock::given(method("GET"))
        .and(path("/v1.5/ext/document"))
        .respond_with(ResponseTemplate::new(429).set_body_json(json!({"message": "TOO_MANY"})))
        .mount(app.vendor("auco"))
        .await;
    zapsign_reads(app.vendor("zapsign"), SIGNED_UUID, zapsign_state("signed")).await;

    let answer = status_ok(&app, &[PENDING_UUID, "TR99AQMY31", SIGNED_UUID]).await;

    let results = &answer["results"];
    assert_eq!(results[0]["vendor"], "zapsign");
    assert_eq!(results[0]["error"]["code"], "vendor_unavailable");
    assert_eq!(results[0]["error"]["retryable"], true);
    assert!(results[0].get("state").is_none(), "{answer}");
    assert_eq!(results[1]["vendor"], "auco");
    assert_eq!(results[1]["error"]["code"], "vendor_rate_limited");
    assert_eq!(results[1]["error"]["retryable"], true);
    assert_eq!(
        results[2],
        json!({"code": SIGNED_UUID, "vendor": "zapsign", "state": "signed"})
    );
}

#[tokio::test]
async fn no_code_too_many_codes_an_invalid_code_or_no_key_is_refused_before_any_read() {
    let app = spawn_app_with(&[("SIGNGATE__SERVER__MAX_DOCUMENTS", "2")]).await;
    for vendor in ["auco", "zapsign"] {
        Mock::given(method("GET"))
            .respond_with(ResponseTemplate::new(200))
            .expect(0)
            .mount(app.vendor(vendor))
            .await;
    }
    let cases: [(&[&str], u16, &str); 3] = [
        (&[], 400, "invalid_request"),
        (
            &["AUCO000001", "AUCO000003", "AUCO000005"],
            400,
            "too_many_documents",
        ),
        (&["AUCO000001", "B C"], 400, "invalid_request"),
    ];

    for (codes, status, code) in cases {
        let response = status_of(&app, codes).await;
        assert_eq!(response.status(), status, "{codes:?}");
        let body: Value = response.json().await.expect("json");
        assert_eq!(body["error"]["code"], code, "{codes:?}");
        assert!(body["error"]["request_id"].is_string(), "{body}");
    }
    let unauthenticated = app
        .client
        .get(app.url("/documents/status?code=AUCO000001"))
        .send()
        .await
        .expect("answer");
    assert_eq!(unauthenticated.status(), 401);
}

#[tokio::test]
async fn zapsign_status_reads_count_against_its_requests_per_minute() {
    // Arrange: two ZapSign calls a minute.
    let app = spawn_app_with(&[
        ("SIGNGATE__SERVER__REQUEST_TIMEOUT_MS", "1000"),
        ("SIGNGATE__VENDORS__AUCO__TIMEOUT_MS", "500"),
        ("SIGNGATE__VENDORS__ZAPSIGN__TIMEOUT_MS", "500"),
        ("SIGNGATE__VENDORS__DROPBOXSIGN__TIMEOUT_MS", "500"),
        ("SIGNGATE__VENDORS__CLICKSIGN__TIMEOUT_MS", "500"),
        ("SIGNGATE__VENDORS__ZAPSIGN__REQUESTS_PER_MINUTE", "2"),
    ])
    .await;
    let zapsign = app.vendor("zapsign");
    Mock::given(method("GET"))
        .respond_with(zapsign_state("pending"))
        .expect(2)
        .mount(zapsign)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .expect(0)
        .mount(zapsign)
        .await;
    let tokens = [PENDING_UUID, MISSING_UUID, SIGNED_UUID];

    // Act: three reads, then a cancel.
    let read = status_ok(&app, &tokens).await;
    let cancel = app
        .cancel_ok(&body_for(&["0a1b2c3d-0000-4000-8000-000000000009"]))
        .await;

    // Assert: two reads used the minute's budget; the third read and the cancel wait for none.
    let states: Vec<&Value> = read["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| &r["state"])
        .filter(|s| s.is_string())
        .collect();
    assert_eq!(states, [&json!("in_progress"), &json!("in_progress")]);
    let late: Vec<&Value> = read["results"]
        .as_array()
        .expect("results")
        .iter()
        .filter_map(|r| r.get("error"))
        .collect();
    assert_eq!(late.len(), 1, "{read}");
    assert_eq!(late[0]["code"], "deadline_exceeded");
    assert_eq!(cancel["results"][0]["error"]["code"], "deadline_exceeded");
}

#[tokio::test]
async fn a_code_found_among_candidates_by_a_status_read_is_not_read_twice() {
    // Arrange: codes `DUAL...` may be at Auco or ZapSign, asked in that order.
    let overlay = r#"
        [[routing.rules]]
        pattern = "DUAL[0-9]+"
        vendors = ["auco", "zapsign"]
    "#;
    let app = OverlaidApp::spawn(overlay).await;
    auco_reads(app.vendors.get("auco"), "DUAL1", "DOCUMENT_NOT_FOUND").await;
    zapsign_reads(app.vendors.get("zapsign"), "DUAL1", zapsign_state("signed")).await;
    auco_reads(app.vendors.get("auco"), "DUAL2", "CREATED").await;

    // Act
    let answer: Value = reqwest::Client::new()
        .get(format!("http://{}/documents/status", app.address))
        .query(&[("code", "DUAL1"), ("code", "DUAL2")])
        .bearer_auth(API_KEY)
        .send()
        .await
        .expect("answer")
        .json()
        .await
        .expect("json");

    // Assert: one read per candidate asked (each mock expects exactly one call).
    assert_eq!(
        answer,
        json!({"results": [
            {"code": "DUAL1", "vendor": "zapsign", "state": "signed"},
            {"code": "DUAL2", "vendor": "auco", "state": "in_progress"},
        ]})
    );
}

/// A gateway whose settings add a TOML overlay (routing rules cannot be set per variable).
struct OverlaidApp {
    address: std::net::SocketAddr,
    vendors: MockVendors,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl OverlaidApp {
    async fn spawn(overlay: &str) -> Self {
        let vendors = MockVendors::start().await;
        let settings =
            signgate::settings::Settings::from_sources(None, Some(overlay), base_vars(&vendors))
                .expect("test settings are valid");
        let app = signgate::startup::Application::build(settings)
            .await
            .expect("the app builds");
        let address = app.local_addr().expect("bound");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(app.run_until_stopped(async {
            let _ = stopped.await;
        }));
        Self {
            address,
            vendors,
            _stop: stop,
        }
    }
}
