//! Faults over real TCP: reconciliation after ambiguous failures, safe retries, single re-sends,
//! the breaker, pacing, deadlines and load shedding. Every test counts the vendor calls.

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use wiremock::matchers::{body_partial_json, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::*;

const TOKEN: &str = "0a1b2c3d-0000-4000-8000-000000000001";

async fn calls_to(server: &MockServer, verb: &str, route: &str) -> usize {
    let requests = server.received_requests().await.expect("recording is on");
    requests
        .iter()
        .filter(|r| r.method.as_str() == verb && r.url.path() == route)
        .count()
}

async fn zapsign_status(server: &MockServer, status: &str) {
    Mock::given(method("GET"))
        .and(path(format!("/api/v1/docs/{TOKEN}/")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"status": status})))
        .mount(server)
        .await;
}

fn result(answer: &Value) -> &Value {
    &answer["results"][0]
}

#[tokio::test]
async fn a_cancel_answered_with_500_is_reconciled_by_status_read() {
    let app = spawn_app().await;
    let zapsign = app.vendor("zapsign");
    Mock::given(path("/api/v1/refuse/"))
        .respond_with(ResponseTemplate::new(500))
        .mount(zapsign)
        .await;
    zapsign_status(zapsign, "refused").await;

    let answer = app.cancel_ok(&body_for(&[TOKEN])).await;

    assert_eq!(result(&answer)["status"], "cancelled");
    assert_eq!(calls_to(zapsign, "POST", "/api/v1/refuse/").await, 1);
    assert_eq!(
        calls_to(zapsign, "GET", &format!("/api/v1/docs/{TOKEN}/")).await,
        1
    );
}

#[tokio::test]
async fn a_cancel_that_times_out_is_reconciled_by_status_read() {
    let app = spawn_app_with(&[("SIGNGATE__VENDORS__ZAPSIGN__TIMEOUT_MS", "300")]).await;
    let zapsign = app.vendor("zapsign");
    Mock::given(path("/api/v1/refuse/"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(2)))
        .mount(zapsign)
        .await;
    zapsign_status(zapsign, "refused").await;

    let answer = app.cancel_ok(&body_for(&[TOKEN])).await;

    assert_eq!(result(&answer)["status"], "cancelled");
    assert_eq!(calls_to(zapsign, "POST", "/api/v1/refuse/").await, 1);
}

#[tokio::test]
async fn a_document_still_in_progress_is_re_sent_and_already_refused_then_counts_as_ours() {
    let app = spawn_app_with(&[("SIGNGATE__VENDORS__ZAPSIGN__TIMEOUT_MS", "300")]).await;
    let zapsign = app.vendor("zapsign");
    Mock::given(path("/api/v1/refuse/"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(2)))
        .up_to_n_times(1)
        .mount(zapsign)
        .await;
    Mock::given(path("/api/v1/refuse/"))
        .respond_with(
            ResponseTemplate::new(403).set_body_json(json!({"code": "document_already_refused"})),
        )
        .mount(zapsign)
        .await;
    zapsign_status(zapsign, "pending").await;

    let answer = app.cancel_ok(&body_for(&[TOKEN])).await;

    assert_eq!(result(&answer)["status"], "cancelled");
    assert_eq!(calls_to(zapsign, "POST", "/api/v1/refuse/").await, 2);
}

#[tokio::test]
async fn a_429_with_retry_after_is_retried_once() {
    let app = spawn_app().await;
    let zapsign = app.vendor("zapsign");
    Mock::given(path("/api/v1/refuse/"))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "1"))
        .up_to_n_times(1)
        .mount(zapsign)
        .await;
    Mock::given(path("/api/v1/refuse/"))
        .respond_with(ResponseTemplate::new(200))
        .mount(zapsign)
        .await;

    let started = Instant::now();
    let answer = app.cancel_ok(&body_for(&[TOKEN])).await;

    assert_eq!(result(&answer)["status"], "cancelled");
    assert_eq!(calls_to(zapsign, "POST", "/api/v1/refuse/").await, 2);
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After was not honoured"
    );
}

#[tokio::test]
async fn a_503_is_retried_without_a_status_read() {
    let app = spawn_app().await;
    let zapsign = app.vendor("zapsign");
    Mock::given(path("/api/v1/refuse/"))
        .respond_with(ResponseTemplate::new(503).insert_header("Retry-After", "1"))
        .up_to_n_times(1)
        .mount(zapsign)
        .await;
    Mock::given(path("/api/v1/refuse/"))
        .respond_with(ResponseTemplate::new(200))
        .mount(zapsign)
        .await;

    let answer = app.cancel_ok(&body_for(&[TOKEN])).await;

    assert_eq!(result(&answer)["status"], "cancelled");
    assert_eq!(calls_to(zapsign, "POST", "/api/v1/refuse/").await, 2);
    assert_eq!(
        calls_to(zapsign, "GET", &format!("/api/v1/docs/{TOKEN}/")).await,
        0
    );
}

#[tokio::test]
async fn a_429_whose_wait_does_not_fit_the_deadline_is_not_retried() {
    let app = spawn_app().await;
    let zapsign = app.vendor("zapsign");
    Mock::given(path("/api/v1/refuse/"))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "120"))
        .mount(zapsign)
        .await;

    let answer = app.cancel_ok(&body_for(&[TOKEN])).await;

    assert_eq!(result(&answer)["error"]["code"], "vendor_rate_limited");
    assert_eq!(result(&answer)["error"]["retryable"], true);
    assert_eq!(calls_to(zapsign, "POST", "/api/v1/refuse/").await, 1);
}

#[tokio::test]
async fn a_document_behind_a_failing_vendor_is_never_sent_more_than_max_attempts_times() {
    let app = spawn_app().await;
    let zapsign = app.vendor("zapsign");
    Mock::given(path("/api/v1/refuse/"))
        .respond_with(ResponseTemplate::new(502))
        .mount(zapsign)
        .await;
    zapsign_status(zapsign, "pending").await;

    let answer = app.cancel_ok(&body_for(&[TOKEN])).await;

    assert_eq!(result(&answer)["error"]["code"], "vendor_unavailable");
    assert!(result(&answer)["error"]["message"]
        .as_str()
        .is_some_and(|m| m.contains("unknown")));
    assert_eq!(calls_to(zapsign, "POST", "/api/v1/refuse/").await, 3);
}

#[tokio::test]
async fn a_signed_document_found_after_a_failure_is_not_re_sent() {
    let app = spawn_app().await;
    let zapsign = app.vendor("zapsign");
    Mock::given(path("/api/v1/refuse/"))
        .respond_with(ResponseTemplate::new(500))
        .mount(zapsign)
        .await;
    zapsign_status(zapsign, "signed").await;

    let answer = app.cancel_ok(&body_for(&[TOKEN])).await;

    assert_eq!(result(&answer)["error"]["code"], "already_signed");
    assert_eq!(calls_to(zapsign, "POST", "/api/v1/refuse/").await, 1);
}

#[tokio::test]
async fn without_a_status_read_an_ambiguous_failure_is_reported_unknown_and_not_re_sent() {
    let app = spawn_app_with(&[("SIGNGATE__VENDORS__AUCO__PUBLIC_KEY", "")]).await;
    let auco = app.vendor("auco");
    Mock::given(path("/v1.5/ext/document/cancel"))
        .respond_with(ResponseTemplate::new(500))
        .mount(auco)
        .await;

    let answer = app.cancel_ok(&body_for(&["TR99AQMY31"])).await;

    assert_eq!(result(&answer)["error"]["code"], "vendor_unavailable");
    assert_eq!(result(&answer)["error"]["retryable"], true);
    assert!(result(&answer)["error"]["message"]
        .as_str()
        .is_some_and(|m| m.contains("unknown")));
    assert_eq!(calls_to(auco, "POST", "/v1.5/ext/document/cancel").await, 1);
}

#[tokio::test]
async fn an_auco_batch_rejected_with_400_is_re_sent_one_code_at_a_time() {
    let app = spawn_app().await;
    let auco = app.vendor("auco");
    let cancel = || Mock::given(path("/v1.5/ext/document/cancel"));
    cancel()
        .and(body_partial_json(
            json!({"codes": ["AUCO000001", "AUCO000003"]}),
        ))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({"message": "INVALID_CODES"})))
        .mount(auco)
        .await;
    cancel()
        .and(body_partial_json(json!({"codes": ["AUCO000001"]})))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"success": 1, "errors": {"cant": 0}})),
        )
        .mount(auco)
        .await;
    cancel()
        .and(body_partial_json(json!({"codes": ["AUCO000003"]})))
        .respond_with(
            ResponseTemplate::new(400).set_body_json(json!({"message": "DOCUMENT_NOT_FOUND"})),
        )
        .mount(auco)
        .await;

    let answer = app
        .cancel_ok(&body_for(&["AUCO000001", "AUCO000003"]))
        .await;

    assert_eq!(answer["results"][0]["status"], "cancelled");
    assert_eq!(answer["results"][1]["error"]["code"], "rejected");
    assert!(answer["results"][1]["error"]["message"]
        .as_str()
        .is_some_and(|m| m.contains("DOCUMENT_NOT_FOUND")));
    assert_eq!(calls_to(auco, "POST", "/v1.5/ext/document/cancel").await, 3);
}

#[tokio::test]
async fn auco_refusals_are_explained_by_status_reads() {
    let app = spawn_app().await;
    let auco = app.vendor("auco");
    Mock::given(path("/v1.5/ext/document/cancel"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "success": 0, "errors": {"cant": 3, "documents": ["AUCOSIGN01", "AUCODONE01", "AUCOLOST01"]}
        })))
        .expect(1)
        .mount(auco)
        .await;
    for (code, answer) in [
        (
            "AUCOSIGN01",
            ResponseTemplate::new(200).set_body_json(json!({"status": "FINISH"})),
        ),
        (
            "AUCODONE01",
            ResponseTemplate::new(200).set_body_json(json!({"status": "REJECTED"})),
        ),
        (
            "AUCOLOST01",
            ResponseTemplate::new(400).set_body_json(json!({"message": "DOCUMENT_NOT_FOUND"})),
        ),
    ] {
        Mock::given(method("GET"))
            .and(path("/v1.5/ext/document"))
            .and(wiremock::matchers::query_param("code", code))
            .and(wiremock::matchers::header(
                "authorization",
                signgate::vendors::auco::conformance::PUBLIC_KEY,
            ))
            .respond_with(answer)
            .expect(1)
            .mount(auco)
            .await;
    }

    let answer = app
        .cancel_ok(&body_for(&["AUCOSIGN01", "AUCODONE01", "AUCOLOST01"]))
        .await;

    let codes: Vec<&str> = (0..3)
        .map(|i| answer["results"][i]["error"]["code"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(codes, ["already_signed", "already_cancelled", "not_found"]);
    assert_eq!(answer["results"][1]["status"], "already_cancelled");
}

#[tokio::test]
async fn the_breaker_opens_fails_fast_and_closes_after_a_good_probe() {
    let app = spawn_app_with(&[
        ("SIGNGATE__VENDORS__AUCO__PUBLIC_KEY", ""),
        ("SIGNGATE__VENDORS__AUCO__BREAKER_FAILURES", "2"),
        ("SIGNGATE__VENDORS__AUCO__BREAKER_COOLDOWN_MS", "300"),
    ])
    .await;
    let auco = app.vendor("auco");
    Mock::given(path("/v1.5/ext/document/cancel"))
        .respond_with(ResponseTemplate::new(500))
        .up_to_n_times(2)
        .mount(auco)
        .await;
    Mock::given(path("/v1.5/ext/document/cancel"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"success": 1, "errors": {"cant": 0}})),
        )
        .mount(auco)
        .await;
    let body = body_for(&["TR99AQMY31"]);

    let first = app.cancel_ok(&body).await;
    let second = app.cancel_ok(&body).await;
    let open = app.cancel_ok(&body).await;
    let calls_while_open = calls_to(auco, "POST", "/v1.5/ext/document/cancel").await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    let probe = app.cancel_ok(&body).await;
    let closed = app.cancel_ok(&body).await;

    for failed in [&first, &second, &open] {
        assert_eq!(result(failed)["error"]["code"], "vendor_unavailable");
    }
    assert_eq!(
        calls_while_open, 2,
        "an open breaker must not call the vendor"
    );
    assert!(result(&open)["error"]["message"]
        .as_str()
        .is_some_and(|m| m.contains("not calling")));
    assert_eq!(result(&probe)["status"], "cancelled");
    assert_eq!(result(&closed)["status"], "cancelled");
    assert_eq!(calls_to(auco, "POST", "/v1.5/ext/document/cancel").await, 4);
}

#[tokio::test]
async fn a_hung_vendor_does_not_delay_another_vendors_documents() {
    let app = spawn_app_with(&[("SIGNGATE__VENDORS__ZAPSIGN__TIMEOUT_MS", "5000")]).await;
    Mock::given(path("/api/v1/refuse/"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(4)))
        .mount(app.vendor("zapsign"))
        .await;
    Mock::given(path("/v1.5/ext/document/cancel"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"success": 1, "errors": {"cant": 0}})),
        )
        .expect(1)
        .mount(app.vendor("auco"))
        .await;

    let hung_body = body_for(&[TOKEN]);
    let hung = app.cancel(&hung_body);
    let quick = async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let started = Instant::now();
        let answer = app.cancel_ok(&body_for(&["TR99AQMY31"])).await;
        (answer, started.elapsed())
    };
    let (_, (answer, elapsed)) = tokio::join!(hung, quick);

    assert_eq!(result(&answer)["status"], "cancelled");
    assert!(
        elapsed < Duration::from_secs(2),
        "the Auco request waited {elapsed:?} for ZapSign"
    );
}

#[tokio::test]
async fn pacing_never_exceeds_requests_per_minute_and_late_documents_miss_the_deadline() {
    let app = spawn_app_with(&[
        ("SIGNGATE__SERVER__REQUEST_TIMEOUT_MS", "2000"),
        ("SIGNGATE__VENDORS__AUCO__TIMEOUT_MS", "1000"),
        ("SIGNGATE__VENDORS__ZAPSIGN__TIMEOUT_MS", "1000"),
        ("SIGNGATE__VENDORS__DROPBOXSIGN__TIMEOUT_MS", "1000"),
        ("SIGNGATE__VENDORS__CLICKSIGN__TIMEOUT_MS", "1000"),
        ("SIGNGATE__VENDORS__ZAPSIGN__REQUESTS_PER_MINUTE", "3"),
    ])
    .await;
    let zapsign = app.vendor("zapsign");
    Mock::given(path("/api/v1/refuse/"))
        .respond_with(ResponseTemplate::new(200))
        .mount(zapsign)
        .await;
    let tokens: Vec<String> = (1..=5)
        .map(|i| format!("0a1b2c3d-0000-4000-8000-00000000000{i}"))
        .collect();
    let refs: Vec<&str> = tokens.iter().map(String::as_str).collect();

    let answer = app.cancel_ok(&body_for(&refs)).await;
    let again = app
        .cancel_ok(&body_for(&["0a1b2c3d-0000-4000-8000-000000000009"]))
        .await;

    assert_eq!(answer["success"], 3);
    let late: Vec<&Value> = answer["results"]
        .as_array()
        .expect("results")
        .iter()
        .filter(|r| r["status"] != "cancelled")
        .collect();
    assert_eq!(late.len(), 2);
    assert!(late
        .iter()
        .all(|r| r["error"]["code"] == "deadline_exceeded" && r["error"]["retryable"] == true));
    assert_eq!(
        result(&again)["error"]["code"],
        "deadline_exceeded",
        "the limit holds across requests"
    );
    assert_eq!(calls_to(zapsign, "POST", "/api/v1/refuse/").await, 3);
}

#[tokio::test]
async fn a_request_of_many_slow_documents_answers_within_its_deadline() {
    let app = spawn_app_with(&[
        ("SIGNGATE__SERVER__REQUEST_TIMEOUT_MS", "1500"),
        ("SIGNGATE__VENDORS__AUCO__TIMEOUT_MS", "1000"),
        ("SIGNGATE__VENDORS__ZAPSIGN__TIMEOUT_MS", "1000"),
        ("SIGNGATE__VENDORS__DROPBOXSIGN__TIMEOUT_MS", "1000"),
        ("SIGNGATE__VENDORS__CLICKSIGN__TIMEOUT_MS", "1000"),
        ("SIGNGATE__VENDORS__ZAPSIGN__MAX_CONCURRENCY", "2"),
    ])
    .await;
    Mock::given(path("/api/v1/refuse/"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_millis(400)))
        .mount(app.vendor("zapsign"))
        .await;
    let tokens: Vec<String> = (10..20)
        .map(|i| format!("0a1b2c3d-0000-4000-8000-0000000000{i}"))
        .collect();
    let refs: Vec<&str> = tokens.iter().map(String::as_str).collect();

    let started = Instant::now();
    let answer = app.cancel_ok(&body_for(&refs)).await;
    let elapsed = started.elapsed();

    let results = answer["results"].as_array().expect("results");
    assert_eq!(results.len(), 10);
    let cancelled = results
        .iter()
        .filter(|r| r["status"] == "cancelled")
        .count();
    assert!((2..10).contains(&cancelled), "{cancelled} cancelled");
    assert!(results
        .iter()
        .filter(|r| r["status"] != "cancelled")
        .all(|r| r["error"]["code"] == "deadline_exceeded"));
    assert!(
        elapsed < Duration::from_millis(2500),
        "answered after {elapsed:?}"
    );
}

#[tokio::test]
async fn requests_beyond_max_in_flight_are_shed_with_503() {
    let app = spawn_app_with(&[("SIGNGATE__SERVER__MAX_IN_FLIGHT", "1")]).await;
    Mock::given(path("/api/v1/refuse/"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_millis(800)))
        .expect(1)
        .mount(app.vendor("zapsign"))
        .await;

    let slow_body = body_for(&[TOKEN]);
    let slow = app.cancel(&slow_body);
    let shed = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        app.cancel(&body_for(&[TOKEN])).await
    };
    let (slow, shed) = tokio::join!(slow, shed);

    assert_eq!(slow.status(), 200);
    assert_eq!(shed.status(), 503);
    assert_eq!(shed.headers()["retry-after"], "1");
    let body: Value = shed.json().await.expect("json");
    assert_eq!(body["error"]["code"], "unavailable");
}
