//! The simulated Auco answers every case src/vendors/auco/README.md documents, and faults as injected.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};

use super::{seed, state, AucoState, DEMO, SIM};
use crate::simulator::tests::{faults, read, TestSim};
use crate::simulator::{SimConfig, Simulator};

/// Cancels `codes` with valid credentials and body.
async fn cancel(t: &TestSim, codes: &[&str]) -> (StatusCode, Value) {
    let body = json!({"codes": codes, "message": "m", "email": "a@b.co"});
    let request = t
        .http
        .post(t.url(&SIM, "/document/cancel"))
        .header("Authorization", "prk_sim")
        .json(&body);
    read(request).await
}

fn unknown_in_progress() -> SimConfig {
    let mut config = SimConfig::default();
    config.unknown_in_progress = true;
    config
}

#[tokio::test]
async fn cancel_cancels_open_documents_and_omits_documents_when_none_failed() {
    let t = TestSim::demo().await;
    let (status, body) = cancel(&t, &["AUCOOPEN01", "AUCOOPEN02"]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({"success": 2, "errors": {"cant": 0}}));
    assert_eq!(state(&t.sim, "AUCOOPEN01"), Some(AucoState::Cancelled));
}

#[tokio::test]
async fn cancel_lists_signed_cancelled_expired_and_unknown_codes_as_failed() {
    let t = TestSim::demo().await;
    let codes = [
        "AUCOSIGN01",
        "AUCOOPEN01",
        "AUCODONE01",
        "AUCOEXPD01",
        "NOSUCH0001",
    ];
    let (status, body) = cancel(&t, &codes).await;
    assert_eq!(status, StatusCode::OK);
    let failed = json!(["AUCOSIGN01", "AUCODONE01", "AUCOEXPD01", "NOSUCH0001"]);
    assert_eq!(
        body,
        json!({"success": 1, "errors": {"cant": 4, "documents": failed}})
    );
    assert_eq!(state(&t.sim, "AUCOSIGN01"), Some(AucoState::Signed));
}

#[tokio::test]
async fn a_second_cancel_of_the_same_code_fails() {
    let t = TestSim::demo().await;
    cancel(&t, &["AUCOOPEN03"]).await;
    let (_, body) = cancel(&t, &["AUCOOPEN03"]).await;
    assert_eq!(
        body,
        json!({"success": 0, "errors": {"cant": 1, "documents": ["AUCOOPEN03"]}})
    );
}

#[tokio::test]
async fn unknown_codes_count_as_open_when_configured_so() {
    let t = TestSim::start(unknown_in_progress()).await;
    let (_, body) = cancel(&t, &["LOADTEST01"]).await;
    assert_eq!(body["success"], 1);
    let (_, body) = cancel(&t, &["LOADTEST01"]).await;
    assert_eq!(body["errors"]["cant"], 1);
}

#[tokio::test]
async fn a_batch_with_an_unknown_code_answers_400_when_configured_so() {
    let mut config = SimConfig::default();
    config
        .set_option("auco", "batch_400_on_unknown", "true")
        .unwrap();
    let t = TestSim::start(config).await;
    t.sim.seed_demo();
    let (status, body) = cancel(&t, &["AUCOOPEN01", "NOSUCH0001"]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body, json!({"message": "DOCUMENT_NOT_FOUND"}));
    assert_eq!(state(&t.sim, "AUCOOPEN01"), Some(AucoState::InProgress));
    assert_eq!(cancel(&t, &["AUCOOPEN01"]).await.1["success"], 1);
}

#[tokio::test]
async fn cancel_requires_the_bare_private_key() {
    let t = TestSim::demo().await;
    let body = json!({"codes": ["AUCOOPEN01"], "message": "m", "email": "a@b.co"});
    for key in [
        None,
        Some("Bearer prk_sim"),
        Some("puk_sim"),
        Some("prk_other"),
    ] {
        let mut request = t.http.post(t.url(&SIM, "/document/cancel")).json(&body);
        if let Some(key) = key {
            request = request.header("Authorization", key);
        }
        let (status, answer) = read(request).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{key:?}");
        assert_eq!(answer, json!({"message": "UNAUTHORIZED"}));
    }
    assert_eq!(state(&t.sim, "AUCOOPEN01"), Some(AucoState::InProgress));
}

#[tokio::test]
async fn cancel_rejects_bodies_without_codes_message_or_email() {
    let t = TestSim::demo().await;
    let bodies = [
        ("{", "INVALID_BODY"),
        (r#"{"message":"m","email":"a@b.co"}"#, "CODES_REQUIRED"),
        (
            r#"{"codes":[],"message":"m","email":"a@b.co"}"#,
            "CODES_REQUIRED",
        ),
        (
            r#"{"codes":[1],"message":"m","email":"a@b.co"}"#,
            "CODES_MUST_BE_STRINGS",
        ),
        (
            r#"{"codes":["AUCOOPEN01"],"email":"a@b.co"}"#,
            "MESSAGE_REQUIRED",
        ),
        (
            r#"{"codes":["AUCOOPEN01"],"message":"m"}"#,
            "EMAIL_REQUIRED",
        ),
    ];
    for (body, message) in bodies {
        let request = t
            .http
            .post(t.url(&SIM, "/document/cancel"))
            .header("Authorization", "prk_sim")
            .header("Content-Type", "application/json")
            .body(body);
        let (status, answer) = read(request).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(answer, json!({ "message": message }), "{body}");
    }
    assert_eq!(state(&t.sim, "AUCOOPEN01"), Some(AucoState::InProgress));
}

#[tokio::test]
async fn status_reads_report_each_state_with_the_public_key() {
    let t = TestSim::demo().await;
    let expected = [
        ("AUCOOPEN01", "CREATED"),
        ("AUCODONE01", "REJECTED"),
        ("AUCOSIGN01", "FINISH"),
        ("AUCOEXPD01", "EXPIRED"),
    ];
    for (code, wire) in expected {
        let request = t
            .http
            .get(t.url(&SIM, "/document"))
            .query(&[("code", code)])
            .header("Authorization", "puk_sim");
        let (status, body) = read(request).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body, json!({"code": code, "status": wire}));
    }
}

#[tokio::test]
async fn status_reads_answer_400_for_unknown_codes_and_401_for_other_keys() {
    let t = TestSim::demo().await;
    let url = t.url(&SIM, "/document?code=NOSUCH0001");
    let (status, body) = read(t.http.get(&url).header("Authorization", "puk_sim")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body, json!({"message": "DOCUMENT_NOT_FOUND"}));
    let (status, body) = read(t.http.get(&url).header("Authorization", "prk_sim")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body, json!({"message": "UNAUTHORIZED"}));
}

#[test]
fn demo_documents_have_auco_shaped_codes_in_every_state() {
    let shape = regex::Regex::new("^[A-Z0-9]{9,10}$").unwrap();
    assert!(DEMO.iter().all(|(code, _)| shape.is_match(code)));
    let sim = Simulator::new(SimConfig::default());
    sim.seed_demo();
    for want in [
        AucoState::InProgress,
        AucoState::Cancelled,
        AucoState::Signed,
        AucoState::Expired,
    ] {
        assert!(DEMO.iter().any(|(code, _)| state(&sim, code) == Some(want)));
    }
}

#[tokio::test]
async fn every_call_is_counted_per_endpoint_whatever_its_answer() {
    let t = TestSim::demo().await;
    cancel(&t, &["AUCOOPEN01"]).await;
    cancel(&t, &["AUCOOPEN01"]).await;
    let unauthorized = t.http.get(t.url(&SIM, "/document?code=AUCOOPEN01"));
    assert_eq!(read(unauthorized).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(t.sim.calls("auco", "cancel"), 2);
    assert_eq!(t.sim.calls("auco", "status"), 1);
    assert_eq!(t.sim.calls("zapsign", "refuse"), 0);
}

#[tokio::test]
async fn an_error_fault_answers_500_or_503_and_cancels_nothing() {
    let t = TestSim::start(faults(|f| f.error_share = 1.0)).await;
    seed(&t.sim, "AUCOOPEN01", AucoState::InProgress);
    let (status, _) = cancel(&t, &["AUCOOPEN01"]).await;
    assert!(matches!(status.as_u16(), 500 | 503), "{status}");
    assert_eq!(state(&t.sim, "AUCOOPEN01"), Some(AucoState::InProgress));
}

#[tokio::test]
async fn a_timeout_fault_never_answers_in_time_even_for_status_reads() {
    let t = TestSim::start(faults(|f| f.timeout_share = 1.0)).await;
    let request = t
        .http
        .get(t.url(&SIM, "/document?code=AUCOOPEN01"))
        .header("Authorization", "puk_sim")
        .timeout(Duration::from_millis(300));
    let error = request.send().await.unwrap_err();
    assert!(error.is_timeout(), "{error:?}");
}

#[tokio::test]
async fn a_timeout_fault_after_cancel_hangs_once_the_cancel_took_effect() {
    let t = TestSim::start(faults(|f| {
        f.timeout_share = 1.0;
        f.after_cancel = true;
    }))
    .await;
    seed(&t.sim, "AUCOOPEN01", AucoState::InProgress);
    let body = json!({"codes": ["AUCOOPEN01"], "message": "m", "email": "a@b.co"});
    let request = t
        .http
        .post(t.url(&SIM, "/document/cancel"))
        .header("Authorization", "prk_sim")
        .json(&body)
        .timeout(Duration::from_millis(300));
    assert!(request.send().await.unwrap_err().is_timeout());
    assert_eq!(state(&t.sim, "AUCOOPEN01"), Some(AucoState::Cancelled));
}
